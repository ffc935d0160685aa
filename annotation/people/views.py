"""People's own pages: accept an invitation (choose a name and password, then you are logged in), and
change your password (Django's views, our templates; it also ends a one-time password)."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from annotation.core.errors import ServiceError
from annotation.core.forms import add_service_errors
from annotation.people import lockout, services, sessions
from annotation.people.forms import AcceptInvitationForm

BACKEND = "annotation.people.lockout.LockoutBackend"  # our ModelBackend (settings.AUTHENTICATION_BACKENDS)


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    try:
        invitation = services.usable_invitation(token)
    except ServiceError as exc:
        return render(request, "registration/invitation.html", {"problem": exc.message}, status=exc.status)
    if request.method == "GET":
        form = AcceptInvitationForm(initial={"username": invitation.username})
        return render(request, "registration/invitation.html", {"form": form, "invitation": invitation})
    form = AcceptInvitationForm(request.POST)
    context = {"form": form, "invitation": invitation}
    if not form.is_valid():
        return render(request, "registration/invitation.html", context, status=400)
    try:
        user = services.accept_invitation(
            token=token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
        )
    except ServiceError as exc:
        if exc.status == 400:
            add_service_errors(form, exc.errors or {"__all__": [exc.message]})
            return render(request, "registration/invitation.html", context, status=400)
        return render(request, "registration/invitation.html", {"problem": exc.message}, status=exc.status)
    login(request, user, backend=BACKEND)
    messages.success(request, f"Welcome, {user.username}: you are an annotator of {invitation.project.name}.")
    return redirect("annotation:project-list")


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def get_context_data(self, **kwargs):
        required = self.request.session.get(sessions.SESSION_KEY, False)
        return {**super().get_context_data(**kwargs), "required": required}

    def form_valid(self, form):
        response = super().form_valid(form)  # saves, and keeps this session logged in
        services.password_changed(user=form.user)
        sessions.clear(self.request)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"


class LoginView(auth_views.LoginView):
    """Django's login page, answering 429 with a clear message while the username is locked out
    (annotation.people.lockout); nothing is checked against the password then."""

    template_name = "registration/login.html"

    def post(self, request, *args, **kwargs):
        seconds = lockout.locked_for(request.POST.get("username"))
        if not seconds:
            return super().post(request, *args, **kwargs)
        form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
        context = self.get_context_data(form=form, locked_message=lockout.lockout_message(seconds))
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(seconds)
        return response
