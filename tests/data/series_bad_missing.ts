@problemName Bad
@univariate false
@missing true
@classLabel true a b
@data
1,?,3:4,5,6:a
