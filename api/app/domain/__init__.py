"""The model's world without I/O frameworks: the inputs (features), the data set file, training
(one scikit-learn Pipeline), the sklearn-free scorer, typed figures, drift. Imports neither the
store nor the web layer."""
