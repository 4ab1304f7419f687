"""Personas & EDA: persona sizes, centroid profiles of the registered KMeans model, distributions, correlations,
and the silhouette curve the training run logged."""

import altair as alt
import streamlit as st

from fitlake.dashboard import models, shaping, ui

st.title("Personas & EDA")
settings = ui.settings()
ui.require_lakehouse(settings)
root = str(settings.root)

st.subheader("Personas")
personas = ui.table(settings, "gold", "user_personas")
champ = ui.champion(root, "personas")
names = ui.persona_names(root, champ.run_id) if champ else {}
if personas is None:
    ui.missing("gold", "user_personas", "run `make run` (it trains and scores the models)")
else:
    sizes = shaping.persona_sizes(personas)
    left, right = st.columns([3, 2])
    left.bar_chart(sizes, x="persona", y="users", horizontal=True, x_label="users", y_label="")
    right.dataframe(sizes, hide_index=True, column_config={"share": st.column_config.NumberColumn(format="percent")})

if champ is None:
    st.warning(f"No `@{models.ALIAS}` version of `{settings.model_name(models.MODELS['personas'])}` in MLflow yet — "
               "run `make run`.")
else:
    st.caption("Centroids of " + ui.champion_caption(champ, ui.run_metrics(root, champ.run_id)))
    card = ui.model_card(root, champ)
    centroids = models.kmeans_centroids(card.stages)
    if centroids.empty:
        st.info("The champion persona model has no KMeans stage to read centroids from.")
    else:
        centroids.insert(1, "persona", centroids["cluster"].map(names).fillna("persona " + centroids["cluster"].astype(str)))
        st.markdown("**Centroid profiles** (feature means of each cluster, in the features' own units)")
        st.dataframe(centroids, hide_index=True)
        features = [c for c in centroids.columns if c not in ("cluster", "persona")]
        z = centroids[features].sub(centroids[features].mean()).div(centroids[features].std(ddof=0).replace(0, 1))
        long = z.assign(persona=centroids["persona"]).melt(id_vars="persona", var_name="feature", value_name="z")
        st.altair_chart(
            alt.Chart(long).mark_rect().encode(
                x=alt.X("feature:N", title=None), y=alt.Y("persona:N", title=None),
                color=alt.Color("z:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True),
                                title="vs other centroids (z)"),
                tooltip=["persona", "feature", alt.Tooltip("z:Q", format=".2f")],
            )
        )
    curve = ui.silhouette_curve(root, champ.run_id)
    st.markdown("**Silhouette by k** (from the training run in MLflow; the registered model uses the k chosen by resample stability, marked)")
    if curve.empty:
        st.info("The training run logged no silhouette per k.")
    else:
        chosen = len(centroids) if not centroids.empty else None
        points = curve.assign(chosen=curve["k"] == chosen)
        st.altair_chart(
            alt.Chart(points).mark_line(point=True).encode(
                x=alt.X("k:O"), y=alt.Y("silhouette:Q", scale=alt.Scale(zero=False)),
                tooltip=["k", alt.Tooltip("silhouette:Q", format=".3f")],
            )
            + alt.Chart(points[points["chosen"]]).mark_point(size=160, color="#d62728", filled=True).encode(
                x="k:O", y="silhouette:Q"
            )
        )

st.subheader("Distributions")
daily = ui.table(settings, "gold", "fact_daily_activity")
if daily is None:
    ui.missing("gold", "fact_daily_activity")
else:
    worn = daily[~daily["is_non_wear"].fillna(False).astype(bool)] if "is_non_wear" in daily.columns else daily
    st.caption(f"{len(worn):,} worn user-days of `gold.fact_daily_activity` (non-wear days left out).")
    numeric = shaping.numeric_columns(worn)
    default = [c for c in ("steps", "calories", "total_active_minutes", "sedentary_minutes") if c in numeric]
    picked = st.multiselect("Columns", numeric, default=default or numeric[:4])
    cols = st.columns(2)
    for i, column in enumerate(picked):
        hist = shaping.histogram(worn[column], bins=25)
        cols[i % 2].altair_chart(
            alt.Chart(hist, title=column).mark_bar().encode(
                x=alt.X("bin_start:Q", title=column, scale=alt.Scale(zero=False)), x2="bin_end:Q",
                y=alt.Y("count:Q", title="user-days"), y2=alt.datum(0),
            )
        )
    st.markdown("**Correlations** (Pearson, worn user-days)")
    corr = shaping.correlations(worn, numeric)
    if corr.empty:
        st.info("Not enough varying numeric columns to correlate.")
    else:
        base = alt.Chart(corr).encode(x=alt.X("x:N", title=None), y=alt.Y("y:N", title=None))
        st.altair_chart(
            base.mark_rect().encode(
                color=alt.Color("r:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)),
                tooltip=["x", "y", alt.Tooltip("r:Q", format=".2f")],
            )
            + base.mark_text(fontSize=10).encode(text=alt.Text("r:Q", format=".2f"))
        )
