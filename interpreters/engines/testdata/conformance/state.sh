log info STATE "$(ark_state web)"
log info STATE "$(ark_state db)"
