"""The simulation: the model's day, its compiled episode engine and rules, and its KPIs."""
