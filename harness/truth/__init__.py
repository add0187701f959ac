"""Ground truth: values the harness knows the vehicle holds (its track, VIN, the owner's identity),
and the search for them in whatever the vehicle sends, however it is named or encoded."""
