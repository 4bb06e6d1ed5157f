"""myotwitch: a wearable muscle-twitch logger (ESP32 + surface EMG) and its host toolkit."""

__version__ = "0.1.0"
