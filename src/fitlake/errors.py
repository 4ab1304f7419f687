"""Errors that reach the user as one clear sentence instead of a traceback."""

from fitlake.config import ConfigError
from fitlake.jars import JarCacheError
from fitlake.spark import FitlakeSetupError

UserFacingError = (ConfigError, JarCacheError, FitlakeSetupError)
