"""Trains a small next-value forecaster on sums of sines and saves it for examples/cpp/stream_signal."""

import sys

import numpy as np

import rnnfast as rf

path = sys.argv[1] if len(sys.argv) > 1 else "model.safetensors"
t = np.arange(20000, dtype=np.float32)
signal = 0.5 * np.sin(0.05 * t) + 0.2 * np.sin(0.13 * t)
windows = np.stack([signal[i:i + 40] for i in range(0, 19000, 7)])
x, y = windows[:, :-1, None], windows[:, 1:, None]  # the next value at every step
model = rf.Sequential([rf.LSTM(16, return_sequences=True, seed=0), rf.Dense(1, seed=1)])
model.compile(loss="mse", optimizer=rf.optimizers.Adam(0.01))
history = model.fit(x, y, batch_size=64, epochs=4, verbose=0, seed=0)
model.save(path)
print(f"saved {path}: training MSE {history.history['loss'][-1]:.5f}")
