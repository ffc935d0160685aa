"""django-allauth adapters for single sign-on (used only when TUNELOOP_OIDC_* turn it on): nobody signs
up with a local password through allauth (a lead creates accounts or invites people); a first login
through the identity provider makes the account, which a lead then adds to projects."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        return False


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        return True
