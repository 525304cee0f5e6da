"""Volatility forecasters and recalibration policies (grows in the recalibration issue)."""
