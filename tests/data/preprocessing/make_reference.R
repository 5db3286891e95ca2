# Reference outputs of R limma for the preprocessing tests (tests/pp/test_normalize.py, test_batch.py).
# Run from the repository root:  Rscript tests/data/preprocessing/make_reference.R
# Inputs are generated here with a fixed seed and written next to the outputs, so the tests need no R.
suppressPackageStartupMessages(library(limma))
out_dir <- "tests/data/preprocessing"
write_matrix <- function(m, file) {
  df <- data.frame(feature = rownames(m), check.names = FALSE)
  for (j in seq_len(ncol(m))) df[[colnames(m)[j]]] <- ifelse(is.na(m[, j]), "NA", sprintf("%.17g", m[, j]))
  write.csv(df, file.path(out_dir, file), row.names = FALSE, quote = FALSE)
}

## 1. limma::normalizeQuantiles with missing values and ties (features x samples) ---------------
set.seed(20261127)
n_feat <- 30; n_samp <- 6
q_in <- matrix(round(rnorm(n_feat * n_samp, mean = 22, sd = 2), 1), n_feat, n_samp)  # rounding -> ties
q_in <- sweep(q_in, 2, c(0, 0.5, -0.4, 1.2, 0.3, -0.8), "+")                        # sample shifts
q_in[sample(length(q_in), 27)] <- NA                                                 # 15% missing
q_in[26:30, 6] <- NA                                                                 # a sparser sample
q_in[1:3, 2] <- c(21.5, 21.5, 21.5)                                                  # a 3-way tie
dimnames(q_in) <- list(sprintf("F%02d", 1:n_feat), sprintf("S%d", 1:n_samp))
write_matrix(q_in, "quantile_input.csv")
write_matrix(normalizeQuantiles(q_in), "quantile_limma.csv")

## 2. limma::removeBatchEffect with missing values, a batch, a second batch and a covariate -------
set.seed(7)
n_feat <- 40
samples <- data.frame(
  sample = sprintf("R%02d", 1:12),
  phase = factor(rep(c("control", "use", "withdrawal"), each = 4),
                 levels = c("control", "use", "withdrawal")),
  batch = c("b1", "b1", "b2", "b3", "b1", "b2", "b2", "b3", "b1", "b2", "b3", "b3"),
  sex = rep(c("F", "M"), 6),
  age = c(8, 9, 10, 11, 8.5, 9.5, 10.5, 12, 7, 9, 11, 13)
)
b_eff <- c(b1 = 0, b2 = 0.8, b3 = -0.6)[samples$batch]
p_eff <- c(control = 0, use = 0.3, withdrawal = 1)[as.character(samples$phase)]
b_in <- matrix(rnorm(n_feat * 12, mean = 20, sd = 0.5), n_feat, 12) +
  outer(rnorm(n_feat, 0, 2), rep(1, 12)) + outer(rep(1, n_feat), b_eff + p_eff + 0.05 * samples$age)
b_in[sample(length(b_in), 40)] <- NA
b_in[1, samples$batch == "b2"] <- NA        # a batch level absent: its coefficient is aliased
b_in[2, samples$phase == "use"] <- NA       # a phase group absent
b_in[3, -c(1, 5, 9)] <- NA                  # only 3 observed values (all b1)
dimnames(b_in) <- list(sprintf("G%02d", 1:n_feat), samples$sample)
write_matrix(b_in, "batch_input.csv")
write.csv(samples, file.path(out_dir, "batch_samples.csv"), row.names = FALSE, quote = FALSE)
design <- model.matrix(~phase, data = samples)
age_c <- samples$age - mean(samples$age)    # kratom-omics centres numeric covariates
write_matrix(removeBatchEffect(b_in, batch = samples$batch, design = design), "batch_limma_batch.csv")
write_matrix(removeBatchEffect(b_in, batch = samples$batch, batch2 = samples$sex, covariates = age_c,
                               design = design), "batch_limma_all.csv")

writeLines(c(paste("R", getRversion()), paste("limma", packageVersion("limma"))),
           file.path(out_dir, "versions.txt"))
