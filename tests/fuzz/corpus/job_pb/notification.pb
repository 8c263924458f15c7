
banco-x-optin-77banco-x"#
Ângela Souzaangela@example.org*
Z.
welcome
nomeÂngela
produtocartão