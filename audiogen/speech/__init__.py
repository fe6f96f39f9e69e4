"""Speech detection in audio: batched Silero VAD (`vad`), used by the prepare stage's speech filter.
May import: audiogen.io."""
