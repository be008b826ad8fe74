"""Moving the store's data: export, import and copy as JSON lines (``oauth-middleware store``).

The public face of :mod:`._transfer` (reading, SCAN pages), :mod:`._transfer_write`
(writing, merging, copying) and :mod:`._records` (the file format): the file holds
digests only, as the store does, and each key's remaining lifetime as an absolute
expiry. ``unknown_keys`` lists the keys under the prefix the key schema does not
describe (``store check``).
"""

from oauth_middleware.store._records import Header, tally
from oauth_middleware.store._transfer import export, unknown_keys
from oauth_middleware.store._transfer_write import Mode, Moved, copy, import_lines

__all__ = ["Header", "Mode", "Moved", "copy", "export", "import_lines", "tally", "unknown_keys"]
