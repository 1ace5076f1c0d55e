"""The built-in callbacks, registered through the `register_callbacks` hook."""
