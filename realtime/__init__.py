"""Real-time order-status updates over WebSockets, served by daphne."""
