from rest_framework import serializers

from core.api.base import StrictSerializer
from consumers.services import ACCOUNT_NAME_RE


class TokenInput(StrictSerializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()


class RegisterInput(StrictSerializer):
    account_name = serializers.RegexField(ACCOUNT_NAME_RE, max_length=64, trim_whitespace=False)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)


class RegisterOutput(serializers.Serializer):
    account_name = serializers.CharField()
