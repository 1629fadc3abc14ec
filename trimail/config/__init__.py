"""Configuration: frozen attrs classes loaded from TOML with cattrs."""

from trimail.config.loader import ConfigError, default_config, load_config
from trimail.config.model import Config, ShutdownConfig, SmtpListenerConfig

__all__ = [
    "Config",
    "ConfigError",
    "ShutdownConfig",
    "SmtpListenerConfig",
    "default_config",
    "load_config",
]
