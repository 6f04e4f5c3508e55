"""Online convex optimization agents for the SEA model: OGD, optimistic OMD, optimistic FTRL
and the optimistic OMD ensemble, composed from hints and step-size schedules."""
