-- Sleep efficiency by weekday (1 = Monday): nights with a time in bed only.
SELECT
  d.day_of_week,
  count(*)                                  AS nights,
  round(avg(s.sleep_efficiency), 3)         AS avg_sleep_efficiency,
  round(avg(s.minutes_asleep) / 60.0, 2)    AS avg_hours_asleep
FROM gold.fact_sleep s
JOIN gold.dim_date d ON d.date_key = s.date_key
WHERE s.sleep_efficiency IS NOT NULL
GROUP BY d.day_of_week
ORDER BY d.day_of_week;
