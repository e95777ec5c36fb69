"""Lightning's ``loops`` package path. fastlit's loops are functions in ``fastlit.trainer`` (``fit_loop``,
``eval_loop``); these modules provide the public names Lightning's loop modules export (mostly re-exported
utilities, a few real helpers such as ``check_finite_loss``, placeholders for Lightning's loop-internal types)."""
