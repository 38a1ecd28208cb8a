"""QR codes issued to points and members: unguessable tokens, rotation history, revocation."""
