# numpy's own float32 log loop, called from C (included by ext/shadow.pyx, ext/light_only.pyx).
#
# The shadow test takes the log of its ratios with numpy's float32 log, whose SIMD
# code and libm's logf may differ in the last bit. The loop numpy runs for
# ``np.log`` on float32 (the one its dispatch picked for this CPU at import) is
# called here directly, without the GIL, on each window's ratios: the same function,
# so the same bits; ``_log_checked`` holds it to ``np.log`` once at import.

cimport numpy as cnp
import numpy as np

cnp.import_array()
cnp.import_ufunc()

ctypedef void (*_float_loop)(char**, cnp.npy_intp*, cnp.npy_intp*, void*) noexcept nogil

cdef _float_loop _log_loop = NULL
cdef void* _log_data = NULL


cdef void _log_f32(const float* x, float* out, Py_ssize_t n) noexcept nogil:
    """out[0:n] = numpy's float32 log of x[0:n]."""
    cdef char* args[2]
    cdef cnp.npy_intp dims[1]
    cdef cnp.npy_intp steps[2]
    args[0] = <char*>x
    args[1] = <char*>out
    dims[0] = n
    steps[0] = sizeof(float)
    steps[1] = sizeof(float)
    _log_loop(args, dims, steps, _log_data)


cdef _find_log():
    global _log_loop, _log_data
    cdef cnp.ufunc log = np.log
    cdef int i
    for i in range(log.ntypes):
        if log.types[2 * i] == cnp.NPY_FLOAT and log.types[2 * i + 1] == cnp.NPY_FLOAT:
            _log_loop = <_float_loop><void*>log.functions[i]
            _log_data = log.data[i]
            break
    else:
        raise ImportError("numpy.log has no float32 loop")
    # The loop numpy picks first for float32 is this one: check it gives np.log's bits.
    sample = np.exp(np.linspace(-4.0, 4.0, 4099)).astype(np.float32)
    cdef float[::1] xs = sample
    cdef float[::1] got = np.empty_like(sample)
    _log_f32(&xs[0], &got[0], xs.shape[0])
    if np.asarray(got).tobytes() != np.log(sample).tobytes():
        raise ImportError("numpy.log's float32 loop does not give np.log's results")


_find_log()
