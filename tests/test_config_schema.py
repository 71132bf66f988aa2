"""gan_jax.config.schema: the Config dataclass and its per-key rules, validation,
``key=value`` overrides, dict round trips, the presets, run names, seed lists and
JSON config files. Every refusal is a one-line UserError naming the key or value."""

import dataclasses
import json
import os
import threading
import time

import pytest
from cli_checks import refused, run_cli

from gan_jax.config.schema import (
    MAX_CONFIG_BYTES,
    MAX_MEMBERS,
    PRESETS,
    Config,
    apply_overrides,
    check_run_name,
    config_from_dict,
    config_to_dict,
    get_config,
    key_ranges_text,
    key_rules,
    label_classes,
    parse_seeds,
    read_json_object,
    validate_config,
)

# ---- the schema: key_rules ----

def test_key_rules_covers_every_field_with_a_plain_type():
    rules = key_rules()
    assert set(rules) == {f.name for f in dataclasses.fields(Config)}
    allowed_ops = {"ge", "gt", "le", "lt", "choices", "check"}
    for name, (typ, rule) in rules.items():
        assert typ in (int, float, bool, str), name
        assert set(rule) <= allowed_ops, (name, rule)
        # the default satisfies the key's own type
        default = getattr(Config(), name)
        assert type(default) is typ, (name, default)


def test_key_rules_spot_checks():
    rules = key_rules()
    assert rules["lr_g"] == (float, {"gt": 0.0})
    assert rules["label_smoothing"] == (float, {"ge": 0.0, "lt": 1.0})
    assert rules["channels"] == (int, {"choices": (1, 3)})
    assert rules["model"] == (str, {"choices": ("dcgan", "mlp")})
    assert rules["seed"] == (int, {"ge": 0, "le": 2**31 - 1})
    assert rules["feature_matching"] == (bool, {})
    assert rules["tfds_data_dir"] == (str, {})


def test_the_default_config_and_its_fields():
    config = Config()
    assert validate_config(config) is config
    assert config.name == "digits_dcgan" and config.data == "digits" and config.model == "dcgan"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 5


# ---- validate_config: bounds, types, choices, checks ----

def _bound_cases():
    """(key, value just outside a bound, value on the allowed side) for every bounded key."""
    cases = []
    for name, (typ, rule) in sorted(key_rules().items()):
        if typ not in (int, float):
            continue
        step = 1 if typ is int else 1e-6
        if "ge" in rule:
            cases.append((name, rule["ge"] - step, rule["ge"]))
        if "gt" in rule:
            cases.append((name, rule["gt"], rule["gt"] + step))
        if "le" in rule:
            cases.append((name, rule["le"] + step, rule["le"]))
        if "lt" in rule:
            cases.append((name, rule["lt"], rule["lt"] - step))
    return cases


@pytest.mark.parametrize("name,bad,good", _bound_cases())
def test_every_bound_refuses_the_value_just_outside_and_keeps_the_edge(name, bad, good):
    refused(lambda: validate_config(dataclasses.replace(Config(), **{name: bad})), repr(name), repr(bad))
    config = dataclasses.replace(Config(), **{name: good})
    assert validate_config(config) is config


@pytest.mark.parametrize("name,value", [
    ("label_smoothing", 1.0), ("label_smoothing", -0.1), ("lr_g", 0.0), ("lr_d", -1e-4),
    ("beta1", 1.0), ("beta2", 1.0), ("seed", 2**31), ("seed", -1), ("image_size", 4097), ("image_size", 0),
    ("channels", 2), ("grid_samples", 4097), ("steps_per_call", 100_001), ("batch_size", 0),
    ("num_classes", 1), ("eval_samples", 1), ("model", "resnet"), ("latent_dist", "cauchy"),
])
def test_out_of_range_values_are_refused_naming_key_and_value(name, value):
    refused(lambda: validate_config(dataclasses.replace(Config(), **{name: value})), repr(name), repr(value))


@pytest.mark.parametrize("name,value", [
    ("steps", True), ("steps", 10.0), ("steps", "10"), ("lr_g", "0.001"), ("lr_g", False),
    ("feature_matching", 1), ("feature_matching", "true"), ("data", 5), ("name", None),
])
def test_wrong_types_arerefused(name, value):
    refused(lambda: validate_config(dataclasses.replace(Config(), **{name: value})), repr(name))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_arerefused(value):
    refused(lambda: validate_config(dataclasses.replace(Config(), lr_g=value)), "'lr_g'", "finite")


def test_an_integer_is_a_valid_float():
    validate_config(dataclasses.replace(Config(), lr_g=1, gp_weight=0))


@pytest.mark.parametrize("data", ["digits", "stacked_digits", "gaussian1d", "ring8", "grid25",
                                  "npz:/tmp/x.npz", "folder:images", "tfds:mnist"])
def test_data_accepts_builtins_and_prefixed_sources(data):
    extra = dict(image_size=8, channels=3) if data == "stacked_digits" else {}
    validate_config(dataclasses.replace(Config(), data=data, **extra))


@pytest.mark.parametrize("data", ["mnist", "", "npz:", "folder:  ", "tfds:", "s3:bucket", "Digits"])
def test_data_refuses_unknown_sources(data):
    refused(lambda: validate_config(dataclasses.replace(Config(), data=data)), "'data'", "npz:PATH")


@pytest.mark.parametrize("size,channels", [(28, 3), (8, 1), (32, 1)])
def test_stacked_digits_needs_8x8_rgb(size, channels):
    config = dataclasses.replace(Config(), data="stacked_digits", image_size=size, channels=channels)
    refused(lambda: validate_config(config), "stacked_digits", "image_size=8 channels=3")


def test_the_name_key_is_a_plain_folder_name():
    refused(lambda: validate_config(dataclasses.replace(Config(), name="../up")), "'name'", "plain folder name")
    validate_config(dataclasses.replace(Config(), name="my-run_2.b"))


def test_the_where_text_is_in_the_message():
    refused(lambda: validate_config(dataclasses.replace(Config(), steps=0), "my place"), "my place")


# ---- choices read from the registries of the core and the models ----

def _registries():
    from gan_jax.core.losses import D_LOSSES, G_LOSSES, PAIRED_G_LOSSES
    from gan_jax.models.conditional import D_CONDITIONINGS, LABEL_EMBEDDINGS
    from gan_jax.models.layers import NORMS
    return {"d_loss": tuple(D_LOSSES), "g_loss": tuple(G_LOSSES) + tuple(PAIRED_G_LOSSES), "norm": tuple(NORMS),
            "conditional": ("none",) + tuple(D_CONDITIONINGS), "label_embedding": tuple(LABEL_EMBEDDINGS)}


@pytest.mark.parametrize("name", ["d_loss", "g_loss", "norm", "conditional", "label_embedding"])
def test_registry_choices_are_the_registry_names(name):
    expected = _registries()[name]
    assert tuple(key_rules()[name][1]["choices"]) == expected
    assert len(expected) >= 2


@pytest.mark.parametrize("name", ["d_loss", "g_loss", "norm", "conditional", "label_embedding"])
def test_registry_keys_refuse_an_unknown_name_listing_the_valid_ones(name):
    valid = _registries()[name]
    message = refused(lambda: apply_overrides(Config(), [f"{name}=no_such_thing"]), repr(name), "no_such_thing")
    for choice in valid:
        assert choice in message, (choice, message)
    message = refused(lambda: config_from_dict({name: "no_such_thing"}, "file.json"), repr(name), "file.json")
    for choice in valid:
        assert choice in message, (choice, message)


@pytest.mark.parametrize("name", ["d_loss", "g_loss", "norm", "conditional", "label_embedding"])
def test_registry_keys_accept_every_registered_name(name):
    for choice in _registries()[name]:
        assert getattr(apply_overrides(Config(), [f"{name}={choice}"]), name) == choice


def test_known_registry_members():
    names = _registries()
    assert {"bce", "wasserstein", "least_squares", "hinge"} <= set(names["d_loss"])
    assert {"saturating", "nonsaturating"} <= set(names["g_loss"])
    assert {"batch", "layer", "none"} <= set(names["norm"])


# ---- apply_overrides ----

def test_overrides_are_parsed_by_the_key_type():
    config = apply_overrides(Config(), ["steps=100", "lr_g=1e-4", "feature_matching=true", "data=ring8",
                                        "mlp_init_gain=2"])
    assert config.steps == 100 and type(config.steps) is int
    assert config.lr_g == 1e-4 and type(config.lr_g) is float
    assert config.feature_matching is True
    assert config.data == "ring8"
    assert config.mlp_init_gain == 2.0 and type(config.mlp_init_gain) is float


@pytest.mark.parametrize("text,value", [("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True),
                                        ("0", False), ("false", False), ("False", False), ("no", False),
                                        ("off", False)])
def test_bool_overrides(text, value):
    assert apply_overrides(Config(), [f"naive={text}"]).naive is value


def test_override_values_may_hold_equals_signs_and_the_last_one_wins():
    config = apply_overrides(Config(), ["data=npz:a=b.npz", "steps=1", "steps=2"])
    assert config.data == "npz:a=b.npz"
    assert config.steps == 2


def test_overrides_leave_the_original_config_alone():
    base = Config()
    changed = apply_overrides(base, ["steps=7"])
    assert base.steps == 2000 and changed.steps == 7
    assert apply_overrides(base, []) == base


@pytest.mark.parametrize("item,fragments", [
    ("steps", ("'steps'", "key=value")),
    ("bogus=1", ("'bogus'", "valid keys", "steps", "lr_g")),
    ("steps=abc", ("'steps'", "an integer", "'abc'")),
    ("steps=1.5", ("'steps'", "an integer")),
    ("steps=", ("'steps'",)),
    ("lr_g=fast", ("'lr_g'", "a number")),
    ("lr_g=nan", ("'lr_g'", "finite")),
    ("lr_g=inf", ("'lr_g'", "finite")),
    ("naive=maybe", ("'naive'", "true or false")),
    ("steps=0", ("'steps'", ">= 1")),
    ("channels=2", ("'channels'", "1, 3")),
    ("model=gru", ("'model'", "dcgan, mlp")),
])
def test_bad_overrides_are_one_line(item, fragments):
    refused(lambda: apply_overrides(Config(), [item]), *fragments)


# ---- config_to_dict / config_from_dict ----

@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dict_round_trip_through_json(preset):
    config = get_config(preset)
    values = config_to_dict(config)
    assert set(values) == {f.name for f in dataclasses.fields(Config)}
    assert config_from_dict(json.loads(json.dumps(values))) == config


def test_from_dict_fills_defaults_and_widens_integers_to_floats():
    config = config_from_dict({"steps": 5, "lr_g": 1})
    assert config.steps == 5 and config.lr_g == 1.0 and type(config.lr_g) is float
    assert config.batch_size == Config().batch_size


@pytest.mark.parametrize("values,fragments", [
    ({"steps": "100"}, ("'steps'", "an integer")),
    ({"steps": 1.0}, ("'steps'",)),
    ({"steps": None}, ("'steps'",)),
    ({"lr_g": "0.001"}, ("'lr_g'", "a number")),
    ({"naive": 1}, ("'naive'", "true or false")),
    ({"data": 5}, ("'data'",)),
    ({"unknown_key": 1}, ("'unknown_key'", "valid keys")),
    ({"data": "stacked_digits"}, ("stacked_digits",)),
])
def test_from_dict_is_strict(values, fragments):
    refused(lambda: config_from_dict(values, "where.json"), "where.json", *fragments)


# ---- get_config and the presets ----

@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_validates_with_its_values(preset):
    config = get_config(preset)
    assert config.name == preset
    assert validate_config(config) is config
    for name, value in PRESETS[preset].items():
        assert getattr(config, name) == value, (preset, name)


def test_presets_take_overrides_and_check_them_together():
    config = get_config("gaussian1d", ["steps=3", "batch_size=8"])
    assert (config.steps, config.batch_size, config.data) == (3, 8, "gaussian1d")
    refused(lambda: get_config("stacked_digits_dcgan", ["image_size=28"]), "stacked_digits")
    refused(lambda: get_config("gaussian1d", ["steps=-1"]), "'steps'")


def test_an_unknown_preset_lists_the_named_configs():
    message = refused(lambda: get_config("no_such_preset"), "'no_such_preset'")
    for preset in PRESETS:
        assert preset in message


def test_a_json_file_config(tmp_path):
    path = tmp_path / "my_config.json"
    path.write_text(json.dumps({"data": "ring8", "model": "mlp", "norm": "none", "steps": 12}))
    config = get_config(str(path), ["batch_size=16"])
    assert config.name == "my_config"
    assert (config.data, config.model, config.steps, config.batch_size) == ("ring8", "mlp", 12, 16)
    path.write_text(json.dumps({"name": "explicit", "steps": 3}))
    assert get_config(str(path)).name == "explicit"


def test_a_bad_json_file_config_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"steps": "many"}))
    refused(lambda: get_config(str(path)), str(path), "'steps'")
    refused(lambda: get_config(str(tmp_path / "missing.json")), "missing.json", "does not exist")


# ---- check_run_name ----

@pytest.mark.parametrize("name", ["a", "run1", "my-run_2.v3", "A" * 128, "0", "x.."])
def test_plain_run_names_are_accepted(name):
    assert check_run_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "../x", "a b", "a\\b", "-x", "_x",
                                  "A" * 129, "é", "a\n", None, 5])
def test_other_run_names_arerefused(name):
    refused(lambda: check_run_name(name), "run name", "plain folder name")


def test_check_run_name_says_what_was_checked():
    refused(lambda: check_run_name("..", "sweep name"), "sweep name '..'")


# ---- parse_seeds ----

@pytest.mark.parametrize("text,seeds", [
    ("0", (0,)), ("0,1,2", (0, 1, 2)), ("0-4", (0, 1, 2, 3, 4)), ("3,0-2", (3, 0, 1, 2)),
    (" 1 , 2 ", (1, 2)), ("7-7", (7,)), ("2147483647", (2**31 - 1,)), ("10-12,20", (10, 11, 12, 20)),
])
def test_seed_lists(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"), ("   ", "empty"), ("1,,2", "empty"), ("1,", "empty"),
    ("1,1", "repeats 1"), ("0-2,2", "repeats 2"), ("0-3,1-2", "repeats 1, 2"),
    ("-1", "'-1'"), ("a", "'a'"), ("1.5", "'1.5'"), ("1-2-3", "'1-2-3'"), ("4-2", "'4-2'"), ("1-", "'1-'"),
    ("2147483648", "outside"),
])
def test_bad_seed_lists_are_one_line(text, fragment):
    refused(lambda: parse_seeds(text), "--seeds", fragment)


def test_at_most_max_members_seeds():
    assert parse_seeds(f"0-{MAX_MEMBERS - 1}") == tuple(range(MAX_MEMBERS))
    refused(lambda: parse_seeds(f"0-{MAX_MEMBERS}"), str(MAX_MEMBERS + 1), f"at most {MAX_MEMBERS}")


@pytest.mark.parametrize("text,fragments", [
    ("0-1000000000", ("1000000001 seeds", f"at most {MAX_MEMBERS}")),    # was built as a list: OOM-killed
    ("0-200000", ("200001 seeds", f"at most {MAX_MEMBERS}")),            # was a quadratic repeat check
    (f"0-{MAX_MEMBERS - 1},5-2147483647", (f"at most {MAX_MEMBERS}",)),
    ("0-" + "9" * 5000, ("is not a non-negative integer",)),             # more digits than int() takes
])
def test_huge_seed_lists_are_refused_at_once_naming_the_limit(text, fragments):
    start = time.perf_counter()
    message = refused(lambda: parse_seeds(text), "--seeds", *fragments)
    assert time.perf_counter() - start < 0.5 and len(message) < 300, message


def test_repeats_in_the_largest_seed_list_are_found_in_linear_time():
    half = MAX_MEMBERS // 2
    start = time.perf_counter()
    refused(lambda: parse_seeds(f"0-{half - 1},0-{half - 1}"), "repeats 0, 1, 2", f"and {half - 10} more")
    assert len(parse_seeds(f"0-{MAX_MEMBERS - 1}")) == MAX_MEMBERS
    assert time.perf_counter() - start < 0.2   # the quadratic check took about 0.4 s for these two


# ---- read_json_object ----

def test_read_json_object_reads_an_object(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"a": 1, "b": [2]}')
    assert read_json_object(str(path), "thing") == {"a": 1, "b": [2]}


@pytest.mark.parametrize("content,fragment", [
    (b"{not json", "is not valid JSON"), (b"\xff\xfe\x00binary", "is not valid JSON"),
    (b"[1, 2]", "must hold a JSON object"), (b'"text"', "must hold a JSON object"), (b"", "is not valid JSON"),
])
def test_read_json_object_refuses_bad_files(tmp_path, content, fragment):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    refused(lambda: read_json_object(str(path), "the thing"), "the thing", str(path), fragment)


def test_read_json_object_refuses_a_missing_file_and_a_directory(tmp_path):
    refused(lambda: read_json_object(str(tmp_path / "none.json"), "the thing"), "the thing", "does not exist")
    refused(lambda: read_json_object(str(tmp_path), "the thing"), "the thing", "is a directory")


def _fill(path, content):
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)


def _sparse(size):
    def make(path):
        with open(path, "wb") as f:
            f.truncate(size)       # nothing is written: the file is a hole
    return make


@pytest.mark.parametrize("content,fragment", [
    (b"[" * 100_000, "nested too deeply"),                     # was a RecursionError traceback
    (b'{"steps": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"steps": ' + b"9" * 5000 + b"}", "is not valid JSON"),  # more digits than int() takes
    (bytes(range(256)) * 4, "is not valid JSON"),               # random bytes
    (b'{"name": "caf\xe9"}', "is not valid JSON"),              # not UTF-8
    (b"\xef\xbb\xbf{}", "is not valid JSON"),                   # a byte-order mark
    (_sparse(MAX_CONFIG_BYTES + 1), "larger than 1 MiB"),       # only MAX_CONFIG_BYTES + 1 bytes are read
    (_sparse(2 ** 40), "larger than 1 MiB"),
])
def test_damaged_config_files_are_one_line(tmp_path, capsys, content, fragment):
    path = tmp_path / "damaged.json"
    _fill(path, content)
    code, _, err = run_cli(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err and str(path) in err and len(err) < 500, err
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.parametrize("values,fragment", [
    ({"steps": "9" * 100_000}, "'steps'"),                      # a value shown cut, not whole
    ({"x" * 100_000: 1}, "unknown config key"),
    ({"data": "npz:/tmp/a\u0000b"}, "NUL"),
    ({"tfds_data_dir": "d" * 5000}, "at most 4096"),
    ({"tfds_data_dir": "\ud800"}, "not valid Unicode"),
    ({"lr_g": 10 ** 400}, "finite number"),                    # too large for a float
])
def test_odd_config_values_are_one_short_line(tmp_path, values, fragment):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(values))
    message = refused(lambda: get_config(str(path)), fragment)
    assert len(message) < 1500, len(message)


def test_a_fifo_config_is_refused_without_waiting(tmp_path):
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    # Without the check, reading blocks until a writer comes: this one comes after 3 s.
    writer = threading.Timer(3.0, lambda: open(path, "wb").close())
    writer.daemon = True
    writer.start()
    try:
        start = time.perf_counter()
        refused(lambda: get_config(str(path)), "not a regular file")
        assert time.perf_counter() - start < 1.0
    finally:
        writer.cancel()


# ---- upper bounds of the counts ----

def test_every_count_has_a_documented_upper_bound():
    documented = key_ranges_text()
    for name, (typ, rule) in key_rules().items():
        if typ is int and "choices" not in rule:
            assert "le" in rule, name
            assert f"{name} {rule.get('ge', '')}..{rule['le']}" in documented, name


def test_label_classes_is_the_class_count_of_conditional_models_only():
    assert label_classes(get_config("digits_cgan")) == get_config("digits_cgan").num_classes == 10
    assert label_classes(get_config("digits_cgan", ["num_classes=3"])) == 3
    assert label_classes(get_config("digits_dcgan", ["num_classes=3"])) is None
