ALTER TABLE hydra_client ADD COLUMN registration_access_token_signature VARCHAR(128) NOT NULL DEFAULT '';
