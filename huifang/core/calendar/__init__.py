"""The working-day calendar (工作日): WorkCalendar table and deadline arithmetic."""
