# Argument checks of the optimizer kernels' Python-facing wrappers, textually
# included after _common.pxi (which provides output_array & co.).


cdef tuple prepare_update(str fn, object param, object grad, tuple states):
    """Check param, grad and the (name, array-or-None, required) states;
    return flat 1D views (param, grad, state or param as a dummy, ...) and
    whether the dtype is float32.

    Every state must be a C-contiguous array of param's dtype and shape and
    share no memory with param or another state; grad may be strided and is
    copied when it overlaps a state (the kernels read it after writing those).
    """
    cdef cnp.ndarray p = output_array(param, fn, "param"), s, other
    cdef cnp.ndarray g = same_input(grad, p, fn, "grad", "param")
    cdef list flats = [flat(p), None]
    cdef list checked = [("param", p)]
    for name, arr, required in states:
        if arr is None and required:
            raise ValueError(f"{fn}: {name} is required. Received: {name}=None")
        if arr is None:
            flats.append(flats[0])
            continue
        s = output_array(arr, fn, name)
        check_same_dtype(s, cnp.PyArray_TYPE(p), fn, name, "param")
        check_same_shape(s, p, fn, name, "param")
        for other_name, other in checked:
            if overlaps(s, other):
                raise ValueError(f"{fn}: {name} must not share memory with {other_name}")
        if overlaps(g, s):
            g = fresh_copy(g)
        checked.append((name, s))
        flats.append(flat(s))
    flats[1] = flat(g)
    return tuple(flats), cnp.PyArray_TYPE(p) == cnp.NPY_FLOAT32
