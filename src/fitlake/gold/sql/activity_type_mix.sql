-- Activity mix on worn days: days, mean steps and mean active minutes per activity type (star join on the key).
SELECT
  t.activity_type,
  count(*)                           AS days,
  round(avg(f.steps), 0)             AS avg_steps,
  round(avg(f.active_minutes), 1)    AS avg_active_minutes
FROM gold.fact_daily_activity f
JOIN gold.dim_activity_type t ON t.activity_type_key = f.activity_type_key
WHERE NOT f.is_non_wear
GROUP BY t.activity_type
ORDER BY days DESC, t.activity_type;
