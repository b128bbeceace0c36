"""`keras_ig._numpy.nest`: names, flattening and packing in tf.nest order."""

from keras_ig._numpy import nest


def test_paths_name_every_leaf_in_sorted_key_order():
    assert nest.paths(None) == ("x",)
    assert nest.paths({"b": 0, "a": [0, 0]}) == ("x['a'][0]", "x['a'][1]", "x['b']")


def test_flatten_then_pack_round_trips_with_none_leaves():
    tree = {"b": (1, None), "a": [2]}
    flat = nest.flatten(tree)
    assert flat == [2, 1, None]
    assert nest.pack(tree, flat) == {"a": [2], "b": (1, None)}
