-- Segment movement: how users moved between engagement segments from the first to the last day of each ISO week.
WITH ranked AS (
  SELECT
    e.user_id,
    d.week_start,
    e.engagement_segment,
    row_number() OVER (PARTITION BY e.user_id, d.week_start ORDER BY e.date)      AS first_rank,
    row_number() OVER (PARTITION BY e.user_id, d.week_start ORDER BY e.date DESC) AS last_rank
  FROM gold.kpi_engagement_daily e
  JOIN gold.dim_date d ON d.date_key = e.date_key
  WHERE e.engagement_segment IS NOT NULL
),
per_user AS (
  SELECT
    user_id,
    week_start,
    max(CASE WHEN first_rank = 1 THEN engagement_segment END) AS from_segment,
    max(CASE WHEN last_rank = 1 THEN engagement_segment END)  AS to_segment
  FROM ranked
  GROUP BY user_id, week_start
)
SELECT week_start, from_segment, to_segment, count(*) AS users
FROM per_user
GROUP BY week_start, from_segment, to_segment
ORDER BY week_start, from_segment, to_segment;
