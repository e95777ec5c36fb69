"""``NeptuneLogger``: fastlit has no Neptune integration yet; the placeholder says what to use instead."""
from fastlit._placeholders import placeholder_class, reason
from fastlit.loggers.logger import Logger

NeptuneLogger = placeholder_class(__name__, "NeptuneLogger", *reason("logger"), bases=(Logger,))
