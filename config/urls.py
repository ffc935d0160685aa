from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from annotation.core.health import healthz
from annotation.people import views as people_views

urlpatterns = [
    path("admin/", admin.site.urls),
    # Liveness for load balancers: no login, plain HTTP allowed (SECURE_REDIRECT_EXEMPT), with or without "/".
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path(
        "login/",
        people_views.LoginView.as_view(
            # The SSO button shows only when TUNELOOP_OIDC_* configure a provider.
            extra_context={"sso_name": settings.TUNELOOP_OIDC_NAME} if settings.TUNELOOP_OIDC_ENABLED else {},
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", people_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "account/password/done/", people_views.PasswordChangeDoneView.as_view(), name="password_change_done"
    ),
    # Pages that do not extend base.html (the admin, the API docs) still get an icon.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("annotation.api_urls")),  # first: the annotators' next and submit lead it
    path("api/", include("preferences.api_urls")),
    path("api/", include("training.api_urls")),
    path("api/", include("evaluation.api_urls")),
    path("", include("annotation.urls")),
    path("", include("preferences.urls")),
    path("", include("training.urls")),
    path("", include("evaluation.urls")),
]

if settings.TUNELOOP_OIDC_ENABLED:  # django-allauth's OpenID Connect login: /accounts/oidc/sso/login/
    urlpatterns.insert(0, path("accounts/", include("allauth.urls")))

handler400 = "annotation.core.web.bad_request"  # a bad query parameter's 400 says which one
