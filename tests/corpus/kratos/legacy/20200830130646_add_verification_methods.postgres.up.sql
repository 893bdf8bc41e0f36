ALTER TABLE "selfservice_verification_flows" DROP COLUMN "form";
ALTER TABLE "selfservice_verification_flows" DROP COLUMN "via";
ALTER TABLE "selfservice_verification_flows" DROP COLUMN "success";