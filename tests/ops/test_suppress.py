"""The suppression list's pure transform (what bronze ingestion and silver call) and the salted hash."""

from __future__ import annotations

from chispa import assert_df_equality

from fitlake.ops.suppress import drop_suppressed, ensure_salt, read_salt, suppression, user_hash


def test_salt_is_created_once_and_kept(settings):
    assert read_salt(settings) is None
    salt = ensure_salt(settings)
    assert len(salt) == 64 and ensure_salt(settings) == salt == read_salt(settings)


def test_drop_suppressed_on_typed_and_raw_rows(spark):
    salt = "s3cret"
    hashes = {user_hash(salt, 3026864709)}
    typed = spark.createDataFrame([(3026864709, 1), (6625859199, 2), (None, 3)], "user_id BIGINT, v INT")
    expected = spark.createDataFrame([(6625859199, 2), (None, 3)], "user_id BIGINT, v INT")
    assert_df_equality(typed.transform(drop_suppressed(hashes, salt)), expected, ignore_row_order=True)
    # the Fitbit export's raw bronze column: text, possibly padded
    raw = spark.createDataFrame([(" 3026864709",), ("6625859199",), ("not-an-id",)], "Id STRING")
    assert sorted(r.Id for r in raw.transform(drop_suppressed(hashes, salt)).collect()) == ["6625859199", "not-an-id"]
    # the hash is computed the same way in Python and Spark; another salt suppresses nothing
    assert typed.transform(drop_suppressed(hashes, "other")).count() == 3


def test_without_an_erasure_the_hook_is_the_identity(spark, settings):
    df = spark.createDataFrame([(1,)], "user_id BIGINT")
    assert suppression(spark, settings)(df) is df
