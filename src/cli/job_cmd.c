/* PLACEHOLDER: replaced by the module's implementation */
