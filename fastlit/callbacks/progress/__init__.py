"""Progress bars: ``ProgressBar`` (base) and ``TQDMProgressBar`` (the default)."""
from fastlit.callbacks.progress.progress_bar import ProgressBar
from fastlit.callbacks.progress.rich_progress import RichProgressBar
from fastlit.callbacks.progress.tqdm_progress import TQDMProgressBar

__all__ = ["ProgressBar", "RichProgressBar", "TQDMProgressBar"]
