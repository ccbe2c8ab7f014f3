# Cython looks up a module's own .pxd by its full name (bybitfast._sign); the declarations live in native/sign.pxd.
include "sign.pxd"
