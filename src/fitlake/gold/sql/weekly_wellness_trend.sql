-- Weekly wellness trend: mean wellness score per ISO week over all users, with how many user-days had sleep data.
SELECT
  d.week_start,
  count(DISTINCT w.user_id)                                AS users,
  count(*)                                                 AS user_days,
  round(avg(w.wellness_score), 1)                          AS avg_wellness_score,
  round(avg(w.steps_component) * 100, 1)                   AS avg_steps_pct_of_goal,
  round(avg(CASE WHEN w.sleep_component_missing THEN 0 ELSE 1 END) * 100, 1) AS pct_days_with_sleep
FROM gold.kpi_wellness_daily w
JOIN gold.dim_date d ON d.date_key = w.date_key
GROUP BY d.week_start
ORDER BY d.week_start;
