"""Live predictions from the ``@champion`` models: inputs come from each model's signature, categorical ones only
offer values the fitted model knows; Spark starts on the first prediction only."""

import streamlit as st

from fitlake.dashboard import models, shaping, ui

st.title("Live predictions")
settings = ui.settings()
ui.require_lakehouse(settings)
root = str(settings.root)

dim_user = ui.table(settings, "gold", "dim_user", columns=["user_id"])
KNOWN_USERS = sorted(int(u) for u in dim_user["user_id"].dropna()) if dim_user is not None else []


def _typed(spec: models.InputSpec, value: str):
    return (int(float(value)) if spec.is_integer else float(value)) if spec.is_numeric else value


def input_widget(spec: models.InputSpec, key: str):
    """One widget per signature column; categories from the model's StringIndexer labels."""
    label = f"{spec.name} ({spec.type})"
    if spec.options:
        options = [_typed(spec, o) for o in spec.options]
        index = options.index(spec.default) if spec.default in options else 0
        return st.selectbox(label, options, index=index, key=key, help="values this model was fitted on")
    if spec.name == "user_id" and KNOWN_USERS:
        index = KNOWN_USERS.index(spec.default) if spec.default in KNOWN_USERS else 0
        return st.selectbox(label, KNOWN_USERS, index=index, key=key, help="users in gold.dim_user")
    if spec.type == "boolean":
        return st.checkbox(label, value=bool(spec.default), key=key)
    if spec.is_integer:
        return st.number_input(label, value=int(spec.default or 0), step=1, key=key)
    if spec.is_numeric:
        return st.number_input(label, value=float(spec.default or 0.0), key=key, format="%.3f")
    return st.text_input(label, value=str(spec.default or ""), key=key)


def prediction_panel(role: str, title: str, unit: str = "") -> None:
    st.subheader(title)
    champ = ui.champion(root, role)
    if champ is None:
        st.warning(f"No `@{models.ALIAS}` version of `{settings.model_name(models.MODELS[role])}` in MLflow yet — "
                   "run `make run`.")
        return
    st.caption(ui.champion_caption(champ, ui.run_metrics(root, champ.run_id)))
    card = ui.model_card(root, champ)
    if not card.inputs:
        st.info("This model was logged without an input signature, so there is nothing to build inputs from.")
        return
    with st.form(f"form-{role}"):
        cols = st.columns(3)
        values = {}
        for i, spec in enumerate(card.inputs):
            with cols[i % 3]:
                values[spec.name] = input_widget(spec, f"{role}-{spec.name}")
        submitted = st.form_submit_button("Predict", type="primary")
    if submitted:
        try:
            model = ui.predictor(root, champ)
            result = models.predict(card, model, values)
        except Exception as e:  # a model that cannot load or score is shown, not raised
            st.error(f"Prediction failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            return
        shown = f"{result:,.1f}{unit}" if isinstance(result, float) else str(result)
        st.metric(f"Predicted {title.lower()}", shown)


prediction_panel("activity_type", "Activity type")
scored_types = ui.table(settings, "gold", "predicted_activity_type",
                        columns=["actual_activity_type", "predicted_activity_type"])
if scored_types is None:
    ui.missing("gold", "predicted_activity_type", "run `make run` (it scores the activity-type model)")
elif not scored_types.empty:
    st.caption(f"Batch scores: how often the champion agrees with the recorded type over "
               f"{len(scored_types):,} records in `gold.predicted_activity_type`")
    st.dataframe(shaping.type_agreement(scored_types), hide_index=True,
                 column_config={"agreement": st.column_config.ProgressColumn(
                     "agreement", format="percent", min_value=0.0, max_value=1.0)})
calories_roles = [r for r in ("calories", "calories_fitbit") if ui.champion(root, r) is not None] or ["calories"]
role = calories_roles[0]
if len(calories_roles) > 1:
    role = st.radio("Calories model", calories_roles, horizontal=True,
                    format_func=lambda r: {"calories": "activity records", "calories_fitbit": "Fitbit daily"}[r])
prediction_panel(role, "Calories", " kcal")

st.subheader("Top-3 recommendations")
recs = ui.table(settings, "gold", "activity_recommendations")
if recs is None:
    ui.missing("gold", "activity_recommendations", "run `make run` (it scores the recommender)")
elif recs.empty:
    st.info("`gold.activity_recommendations` has no rows yet.")
else:
    rec_champ = ui.champion(root, "recommend")
    if rec_champ is not None:
        st.caption("Scored by " + ui.champion_caption(rec_champ, ui.run_metrics(root, rec_champ.run_id)))
    user = st.selectbox("User", sorted(int(u) for u in recs["user_id"].dropna().unique()), key="rec-user")
    rank = shaping.first_present(recs, ("rank", "recommendation_rank", "position"))
    score = shaping.first_present(recs, ("score", "rating", "prediction"))
    mine = recs[recs["user_id"] == user]
    mine = mine.sort_values(rank) if rank else mine.sort_values(score, ascending=False) if score else mine
    st.dataframe(mine.head(3).drop(columns=[c for c in mine.columns if c.startswith("_")]), hide_index=True)
