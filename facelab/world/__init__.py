"""The simulated world: people and their days, synthetic faces, camera frames, motion regions."""
