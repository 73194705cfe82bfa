"""Getting in: a token for an account name and password, and consumer registration."""
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.response import Response

from core import errors
from core.api import examples as ex
from core.api.base import LoginThrottle, PublicApiView
from consumers.api.serializers import RegisterInput, RegisterOutput, TokenInput, TokenOutput
from consumers.services import consumer_register


class TokenApi(PublicApiView):
    authentication_classes = []
    throttle_classes = [LoginThrottle]

    @extend_schema(
        operation_id="auth_token", tags=["auth"], request=TokenInput, responses={200: TokenOutput}, auth=[],
        examples=[ex.request("Log in", {"username": "alice", "password": "alice"}),
                  ex.response("Token", {"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"})],
        description="Exchange an account name (any letter case) and password for an API token.",
    )
    def post(self, request):
        serializer = TokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, not DRF's wrapper: django-axes marks a locked-out account on it, and its
        # middleware then answers 429 instead of this view's 400.
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            raise serializers.ValidationError({"non_field_errors": ["Unable to log in with these credentials."]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class RegisterApi(PublicApiView):
    authentication_classes = []
    throttle_classes = [LoginThrottle]

    @extend_schema(
        operation_id="consumers_register", tags=["auth"], request=RegisterInput, responses={201: RegisterOutput},
        auth=[],
        examples=[ex.request("Register", {"account_name": "carol", "password": "a long passphrase",
                                          "email": "carol@example.com"}),
                  ex.response("Registered", {"account_name": "carol"}, 201)],
    )
    def post(self, request):
        serializer = RegisterInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            consumer = consumer_register(account_name=data["account_name"], password=data["password"],
                                         email=data.get("email", ""))
        except DjangoValidationError as exc:
            return Response({"password": [str(m) for m in exc.messages]}, status=status.HTTP_400_BAD_REQUEST)
        except errors.DomainError as exc:
            if exc.status_code != 400:
                raise
            return Response({"account_name": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"account_name": consumer.account_name}, status=status.HTTP_201_CREATED)
