"""Offline model making: reference labels and trainers (never imported at MD time)."""
