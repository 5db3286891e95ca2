# Reference ROC AUCs and confidence intervals from pROC for tests/tl/test_biomarkers_performance.py.
# Run from this folder:  Rscript make_reference.R
# Input: auc_values.csv (one column per feature; label 1 = positive/case, 0 = negative/control).
# Output: pROC_auc.csv with, per feature, the AUC (direction "<": cases higher), the DeLong 95% CI and a
# stratified bootstrap 95% CI (2000 resamples; a different generator than numpy's, so tests compare it
# loosely).
suppressPackageStartupMessages(library(pROC))
d <- read.csv("auc_values.csv", check.names = FALSE)
features <- setdiff(colnames(d), c("sample", "label"))
set.seed(1)
out <- do.call(rbind, lapply(features, function(f) {
  keep <- !is.na(d[[f]])
  r <- roc(d$label[keep], d[[f]][keep], levels = c(0, 1), direction = "<", quiet = TRUE)
  dl <- ci.auc(r, method = "delong", conf.level = 0.95)
  bs <- ci.auc(r, method = "bootstrap", boot.n = 2000, boot.stratified = TRUE, conf.level = 0.95,
               progress = "none")
  data.frame(feature = f, n_pos = sum(d$label[keep] == 1), n_neg = sum(d$label[keep] == 0),
             auc = as.numeric(auc(r)), delong_low = dl[1], delong_high = dl[3],
             boot_low = bs[1], boot_high = bs[3])
}))
write.csv(out, "pROC_auc.csv", row.names = FALSE)
cat("pROC", as.character(packageVersion("pROC")), "\n")
