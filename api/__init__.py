"""The HTTP API v1 as one product surface: the shapes its apps share (serializers.py)."""
