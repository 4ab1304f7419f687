MODELS = {"activity_type": "activity_type", "calories": "calories", "personas": "personas"}
