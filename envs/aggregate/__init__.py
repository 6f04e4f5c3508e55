"""Learning from aggregate responses: a stream of bags whose labels are released only as bag
means (optionally under label differential privacy), and the exact finite-sample risk of the
interpolating estimator (papers §4)."""
