"""The built-in optimizers (Keras 3's update rules and defaults) and schedules."""
