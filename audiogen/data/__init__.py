"""The LM's training data: streaming token shards (`loader.make_train_loader`, `stream`), their
random-access index (`index`) and the waveform mix augmentation (`mix`). May import: io, text."""
