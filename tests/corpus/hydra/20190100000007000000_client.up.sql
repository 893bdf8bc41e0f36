ALTER TABLE hydra_client ADD allowed_cors_origins TEXT;
