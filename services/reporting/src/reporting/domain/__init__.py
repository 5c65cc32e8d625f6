"""Pure reporting model: call-fact merges, agent state intervals and the KPI formulas."""
