"""Appeals against decisions (DSA Art. 20): filing, the window, and the outcome."""
