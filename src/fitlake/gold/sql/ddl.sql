-- Gold star schema: the DDL fitlake itself runs (fitlake.gold.job.apply_ddl) before every gold update.
-- Locally each table gets `LOCATION '<root>/gold/<table>'`; on Databricks `gold.x` becomes `<catalog>.<schema>.gold_x`.
-- Large, date-grained tables use liquid clustering on `date` (see docs/pipeline.md: "Layout for pruning"), and keep
-- file statistics (min/max/nulls) only on `date` and their keys, what reads and MERGEs skip files by: collecting them
-- for every column of every row written was a third of gold.fact_hourly_activity's task CPU in a +1-day run at 1x.

CREATE TABLE IF NOT EXISTS gold.dim_date (
  date_key INT COMMENT 'yyyymmdd',
  date DATE,
  year INT,
  month INT,
  day_of_month INT,
  day_of_week INT COMMENT '1 = Monday .. 7 = Sunday',
  is_weekend BOOLEAN,
  week_start DATE COMMENT 'the Monday of the ISO week',
  _updated_at TIMESTAMP
) USING DELTA;

CREATE TABLE IF NOT EXISTS gold.dim_activity_type (
  activity_type_key INT COMMENT 'fixed: 0 = none (Fitbit summary only), 1.. in fitlake.silver.expectations.ACTIVITY_TYPES order',
  activity_type STRING,
  _updated_at TIMESTAMP
) USING DELTA;

CREATE TABLE IF NOT EXISTS gold.dim_user (
  user_id BIGINT,
  first_date DATE,
  last_date DATE,
  days_tracked INT,
  non_wear_days INT,
  avg_daily_steps DOUBLE COMMENT 'over worn days',
  has_fitbit_data BOOLEAN,
  has_activity_records BOOLEAN,
  sleep_nights INT,
  weight_logs INT,
  latest_weight_kg DOUBLE,
  latest_bmi DOUBLE,
  _updated_at TIMESTAMP
) USING DELTA;

CREATE TABLE IF NOT EXISTS gold.fact_daily_activity (
  user_id BIGINT,
  date DATE,
  date_key INT,
  activity_type_key INT,
  activity_type STRING,
  steps INT,
  distance_km DOUBLE,
  calories DOUBLE,
  very_active_minutes INT,
  fairly_active_minutes INT,
  lightly_active_minutes INT,
  sedentary_minutes INT,
  total_active_minutes INT COMMENT 'very + fairly + lightly active minutes, else the activity duration',
  active_minutes INT COMMENT 'very + fairly active minutes (moderate-to-vigorous), else the activity duration',
  duration_minutes INT,
  heart_rate_avg DOUBLE,
  sleep_hours DOUBLE COMMENT 'from the activity record',
  is_non_wear BOOLEAN,
  source STRING COMMENT 'fitbit | activity | both',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

CREATE TABLE IF NOT EXISTS gold.fact_sleep (
  user_id BIGINT,
  date DATE,
  date_key INT,
  minutes_asleep INT,
  time_in_bed INT,
  sleep_records INT,
  sleep_efficiency DOUBLE COMMENT 'minutes_asleep / time_in_bed, null when time_in_bed = 0',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

CREATE TABLE IF NOT EXISTS gold.fact_hourly_activity (
  user_id BIGINT,
  activity_hour TIMESTAMP,
  date DATE,
  hour INT,
  steps INT,
  calories INT,
  total_intensity INT,
  average_intensity DOUBLE,
  missing_inputs STRING COMMENT 'silver inputs with no row for this hour (hourly_steps, hourly_calories, hourly_intensities: missing or quarantined), null when complete',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id,activity_hour');

CREATE TABLE IF NOT EXISTS gold.fact_heart_rate (
  user_id BIGINT,
  hour TIMESTAMP,
  date DATE,
  avg_bpm DOUBLE,
  min_bpm INT,
  max_bpm INT,
  samples BIGINT,
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id,hour');

CREATE TABLE IF NOT EXISTS gold.data_completeness (
  user_id BIGINT,
  date DATE,
  date_key INT,
  has_daily_activity BOOLEAN COMMENT 'silver.daily_activity has the day',
  has_activity_record BOOLEAN COMMENT 'silver.activity has the day',
  has_sleep BOOLEAN COMMENT 'silver.sleep_day has the night',
  hourly_complete_hours INT COMMENT 'hours of the day with all three hourly inputs',
  hourly_coverage DOUBLE COMMENT 'hourly_complete_hours / 24',
  heart_rate_hours INT COMMENT 'hours of the day with heart-rate samples',
  missing_inputs STRING COMMENT 'daily_activity (neither daily file), sleep_day, hourly_* (< 24 hours), heartrate_seconds: null when none is missing',
  quarantined_inputs STRING COMMENT 'inputs with rows of this user and day in quarantine.<input>, null when none',
  quarantined_rows BIGINT,
  is_complete BOOLEAN COMMENT 'nothing missing and nothing quarantined',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

CREATE TABLE IF NOT EXISTS gold.kpi_wellness_daily (
  user_id BIGINT,
  date DATE,
  date_key INT,
  steps INT,
  active_minutes INT,
  sleep_hours DOUBLE,
  steps_component DOUBLE,
  active_component DOUBLE,
  sleep_component DOUBLE,
  sleep_component_missing BOOLEAN,
  wellness_score DOUBLE COMMENT '0-100, see fitlake.gold.kpis',
  incomplete_inputs STRING COMMENT 'daily_activity / sleep_day :missing or :quarantined on this day (gold.data_completeness), null when complete',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

CREATE TABLE IF NOT EXISTS gold.kpi_engagement_daily (
  user_id BIGINT,
  date DATE,
  date_key INT,
  active_minutes INT,
  trailing_active_minutes DOUBLE COMMENT 'mean over worn days in date-6 .. date',
  trailing_wear_days BIGINT,
  weekly_active_minutes DOUBLE,
  engagement_segment STRING COMMENT 'High | Medium | Low',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

CREATE TABLE IF NOT EXISTS gold.kpi_sleep_efficiency (
  user_id BIGINT,
  date DATE,
  date_key INT,
  minutes_asleep INT,
  time_in_bed INT,
  sleep_efficiency DOUBLE,
  trailing_sleep_efficiency DOUBLE COMMENT 'mean over nights in date-6 .. date',
  trailing_nights BIGINT,
  incomplete_inputs STRING COMMENT 'sleep_day:missing or :quarantined on this night (gold.data_completeness), null when complete',
  _updated_at TIMESTAMP
) USING DELTA CLUSTER BY (date)
  TBLPROPERTIES ('delta.dataSkippingStatsColumns' = 'date,user_id');

-- Written by `fitlake score` (fitlake.ml.monitoring.record_model_monitoring), not by the gold job: one row per scoring batch, model
-- version, metric (input_psi | prediction_psi | rolling_<error>) and feature; thresholds in fitlake.config.
CREATE TABLE IF NOT EXISTS gold.model_monitoring (
  batch_id STRING COMMENT 'hash of the scored rows: the same rows scored again add nothing',
  model_name STRING,
  model_version STRING,
  metric STRING COMMENT 'input_psi | prediction_psi | rolling_mae | rolling_error_rate',
  feature STRING,
  value DOUBLE,
  baseline DOUBLE COMMENT 'training value: 0 for a PSI, the held-out error for a rolling error',
  threshold DOUBLE,
  drifted BOOLEAN,
  rows BIGINT,
  window_start DATE,
  window_end DATE,
  retrain_due BOOLEAN COMMENT 'any metric of this batch and model version drifted',
  _monitored_at TIMESTAMP
) USING DELTA CLUSTER BY (model_name);
